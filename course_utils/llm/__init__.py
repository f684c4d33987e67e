"""Causal-LM instruction tuning with QLoRA (notebook 06): prompt template and loss masking, the base model (a real
Korean LM online, the course's own tiny LLaMA offline), SFT with trl, greedy generation and scoring, save / reload /
merge."""
