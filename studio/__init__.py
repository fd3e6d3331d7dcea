"""Latent Studio: a local art studio for generative models."""
