from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('comparisons', '0004_follow_ups'),
    ]

    operations = [
        migrations.AddField(
            model_name='comparison',
            name='synthesis',
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='response',
            name='finish_reason',
            field=models.CharField(blank=True, choices=[('stop', 'Stopped by the model'), ('length', 'Reached the token limit'), ('cancelled', 'Stopped by the user'), ('error', 'Failed')], max_length=10, null=True),
        ),
        migrations.AddField(
            model_name='response',
            name='quality',
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='response',
            name='role',
            field=models.CharField(choices=[('answer', 'Answer'), ('review', 'Review'), ('synthesis', 'Synthesis')], default='answer', max_length=10),
        ),
    ]
