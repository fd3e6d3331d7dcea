"""The choices every page offers for training settings, kept in one place."""

LEARNING_RATES = (1e-5, 3e-5, 1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2)
BATCH_SIZES = (16, 32, 64, 128, 256, 512)
