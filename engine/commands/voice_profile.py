"""`python -m engine voice-profile CLIP.mp4 -o actor.json`: learn an actor's voice profile.

The clip must show the actor's face and carry their voice; the profile
(engine/capture/voice_profile.py) then calibrates audio-only captures of that actor:
``python -m engine capture line.wav --voice-profile actor.json -o m.json``."""

from __future__ import annotations

import argparse

from ..outputs import check_outputs
from ..progress import Progress, console_bar
from ._checks import refuse_inputs_as_outputs, require_file


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("voice-profile", help="learn an actor's voice profile from a clip with their "
                                             "face and voice")
    p.add_argument("video", help="clip (mp4, mov, ...) showing the actor's face, with their voice")
    p.add_argument("-o", "--output", required=True, help="voice profile .json to write")
    p.add_argument("--frames", help="video frames A-B or A..B, both ends included, or A- to the end")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..capture.voice_calibration import learn_profile
    from ..errors import EngineError
    from ..frames import capture_span
    from ..media.audio import AUDIO_SUFFIXES, probe_audio

    start, stop = capture_span(args.frames)
    require_file(args.video, "clip")
    if Path(args.video).suffix.lower() in AUDIO_SUFFIXES:
        raise EngineError(f"{Path(args.video).name} is a sound file: a voice profile is learned "
                          "from a video that shows the actor's face while they speak")
    refuse_inputs_as_outputs([(args.video, "clip")], [(args.output, "voice profile")])
    check_outputs([(args.output, "voice profile")], args.overwrite)
    probe_audio(args.video)  # a clip without sound fails here, before the face is tracked
    profile = learn_profile(args.video, start=start, stop=stop,
                            progress=Progress(console_bar("voice profile")))
    profile.save(args.output, overwrite=args.overwrite)
    t, om = profile.trained_on, profile.open_mapping
    print(f"wrote {args.output}: frames {t['frames'][0]}-{t['frames'][1]} of {t['file']}, "
          f"{t['voiced_seconds']:.1f} s of voiced speech; openings gain {om.gain:.2f}, gamma "
          f"{om.gamma:.2f} (face p50/p90 {t['face_p50_p90'][0]:.2f}/{t['face_p50_p90'][1]:.2f}); "
          f"voice vs face r {t['r']:.2f} at {t['offset_frames']:+d} frames")
    return 0
