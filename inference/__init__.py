"""Council's inference layer: engines that stream tokens, with no Django in sight.

Importable without a GPU, without vLLM and without torch: heavy imports happen inside
the engine that needs them.
"""
