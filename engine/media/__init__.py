"""The input layer for media: every image, video and audio file the engine reads comes through
here, checked before any native decoder sees it (size from the header, orientation, pixel
formats, damaged streams), and the video/audio writers that go through engine.outputs.

``images`` reads portraits, ``video`` decodes driving clips and writes .mp4, ``audio`` streams
PCM for voice capture and muxes sound into renders (all through the bundled ffmpeg).
"""
