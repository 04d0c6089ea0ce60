import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0002_measurements'),
    ]

    operations = [
        migrations.AddField(
            model_name='languagemodel',
            name='options',
            field=models.JSONField(blank=True, default=dict, help_text='Backend options passed to the engine (ModelSpec.extra), e.g. {"gpu_memory_utilization": 0.45}.'),
        ),
        migrations.AddField(
            model_name='languagemodel',
            name='preload',
            field=models.BooleanField(default=False, help_text='Load (and convert) this model when a worker starts.'),
        ),
        migrations.AddField(
            model_name='languagemodel',
            name='parallel_slots',
            field=models.PositiveIntegerField(blank=True, help_text='Answers one engine decodes together (batching); blank = chosen from cores and memory.', null=True, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(64)]),
        ),
        migrations.AddField(
            model_name='languagemodel',
            name='quality_check',
            field=models.BooleanField(default=True, help_text='Score every FAST answer against THINKING (costs one THINKING prefill).'),
        ),
    ]
