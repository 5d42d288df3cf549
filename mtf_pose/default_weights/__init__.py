"""The weights ``Lifter.from_pretrained()`` loads when given no source (config.json, model.safetensors, README.md)."""
