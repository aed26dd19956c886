"""Which node pack provides which node class, and which inputs name model files: so Check Server
and refused workflows can say "install pack X" / "put model file Y in models/Z" in one sentence.

Class names come from each pack's source (see docs/comfyui.md for the commits read).
"""

from __future__ import annotations

# class_type -> (pack name, where to get it)
PACKS: dict[str, tuple[str, str]] = {}


def _add(pack: str, url: str, *classes: str) -> None:
    for c in classes:
        PACKS[c] = (pack, url)


_add("ComfyUI-AdvancedLivePortrait", "https://github.com/PowerHouseMan/ComfyUI-AdvancedLivePortrait",
     "AdvancedLivePortrait", "ExpressionEditor", "ExpData", "LoadExpData", "SaveExpData", "PrintExpData:")
_add("ComfyUI_HelloMeme", "https://github.com/HelloVision/ComfyUI_HelloMeme",
     "HMImagePipelineLoader", "HMVideoPipelineLoader", "HMVideoSimplePipelineLoader",
     "HMFaceToolkitsLoader", "GetReferenceImageRT", "CropReferenceImage", "GetImageDriveParams",
     "GetVideoDriveParams", "HMPipelineImage", "HMPipelineVideo")
_add("ComfyUI-X-Portrait-Nodes", "https://github.com/akatz-ai/ComfyUI-X-Portrait-Nodes",
     "DownloadXPortraitModel", "XPortrait")
_add("ComfyUI-VideoHelperSuite", "https://github.com/Kosinkadink/ComfyUI-VideoHelperSuite",
     "VHS_LoadVideo", "VHS_LoadVideoPath", "VHS_LoadVideoFFmpeg", "VHS_VideoCombine", "VHS_LoadAudio")
_add("ComfyUI core (update ComfyUI)", "https://github.com/comfyanonymous/ComfyUI",
     "WanAnimateToVideo", "WanSoundImageToVideo", "WanInfiniteTalkToVideo", "TrimVideoLatent",
     "AudioEncoderLoader", "AudioEncoderEncode", "ModelPatchLoader", "CreateVideo", "SaveVideo",
     "LoadVideo", "GetVideoComponents")

# loader class -> {input name: models subfolder}. Inputs listed here are model files whose
# absence Check Server reports as "missing model file", not as a bad value.
MODEL_INPUTS: dict[str, dict[str, str]] = {
    "CheckpointLoaderSimple": {"ckpt_name": "checkpoints"},
    "UNETLoader": {"unet_name": "diffusion_models"},
    "CLIPLoader": {"clip_name": "text_encoders"},
    "VAELoader": {"vae_name": "vae"},
    "CLIPVisionLoader": {"clip_name": "clip_vision"},
    "LoraLoaderModelOnly": {"lora_name": "loras"},
    "LoraLoader": {"lora_name": "loras"},
    "AudioEncoderLoader": {"audio_encoder_name": "audio_encoders"},
    "ModelPatchLoader": {"name": "model_patches"},
    "UpscaleModelLoader": {"model_name": "upscale_models"},
}


def pack_for_class(class_type: str) -> str | None:
    """``"NAME (URL)"`` of the pack providing ``class_type``, or None when unknown."""
    hit = PACKS.get(class_type)
    return f"{hit[0]} ({hit[1]})" if hit else None


def pack_name(class_type: str) -> str | None:
    hit = PACKS.get(class_type)
    return hit[0] if hit else None
