"""Stage ``classify``: label local audio files with a model bundle."""
