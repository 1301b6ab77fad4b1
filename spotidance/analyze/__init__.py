"""Stage ``analyze``: tempo, key, loudness and the Beatport 2016 feature set from audio."""
