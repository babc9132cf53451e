"""The Stampside device simulator: a derma stamp you can break on purpose."""
