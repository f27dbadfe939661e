"""Text descriptions of tracks by audio-language models (Music Flamingo): the prompts asked and
the part of the track the model hears. The model backends build on these (issue 6)."""
