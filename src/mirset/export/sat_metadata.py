"""Stable Audio Tools custom metadata for a dataset exported by ``mirset export sat`` / ``wds``.

Standalone: only the standard library, no mirset needed at training time. ``mirset export`` copies
this file beside ``mirset_metadata.json`` (the exported prompts and features, keyed by each file's
path relative to the dataset's audio folder) and names it as the ``custom_metadata_module`` of
the dataset config. Stable Audio Tools calls ``get_custom_metadata(info, audio)`` for every
sample and merges the returned dict into the sample's metadata, where the conditioners read it:

- ``prompt``: a random choice among the track's prompts (feature prompt, its variants,
  descriptions), a new one each time the track is drawn;
- one float per exported numeric feature (e.g. ``bpm``), for ``number`` conditioners.

``audio_dir`` datasets give ``info["relpath"]``; WebDataset samples carry the track's entry in
their ``.json`` (``info["mirset_key"]``). A file not in the export is rejected (``__reject__``),
so Stable Audio Tools draws another sample instead of training without conditioning.
"""

import json
import os
import random

METADATA_FILE = "mirset_metadata.json"
_cache = {}


def _metadata():
    if "data" not in _cache:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), METADATA_FILE)
        with open(path, encoding="utf-8") as f:
            _cache["data"] = json.load(f)
    return _cache["data"]


def _entry(info):
    tracks = _metadata()["tracks"]
    key = info.get("mirset_key")
    if key is None and info.get("relpath") is not None:
        key = str(info["relpath"]).replace(os.sep, "/")
    return tracks.get(key) if key is not None else None


def get_custom_metadata(info, audio):
    entry = _entry(info)
    if entry is None or not entry["prompts"]:
        return {"__reject__": True}
    out = {"prompt": random.choice(entry["prompts"])}
    for name, value in entry["features"].items():
        out[name] = float(value)
    return out
