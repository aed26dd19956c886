"""engine/ must import and run its CLI in a plain Python with no bpy anywhere."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A meta path finder that makes `import bpy` fail loudly, as in a Python without Blender.
BLOCK_BPY = """
import sys
class _NoBpy:
    def find_spec(self, name, path=None, target=None):
        if name == 'bpy' or name.startswith('bpy.'):
            raise ImportError('bpy is blocked in this test')
sys.meta_path.insert(0, _NoBpy())
"""


def test_engine_modules_import_without_bpy():
    code = BLOCK_BPY + """
import importlib, pkgutil, engine
for m in pkgutil.walk_packages(engine.__path__, 'engine.'):
    if not m.name.endswith('__main__'):
        importlib.import_module(m.name)
assert 'bpy' not in sys.modules
print('ok')
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_cli_help_runs():
    out = subprocess.run([sys.executable, "-m", "engine", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "usage: python -m engine" in out.stdout
