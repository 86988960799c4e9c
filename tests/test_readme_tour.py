"""The README's five-minute tour, run as written against a real `golive up`.

The only change made to the text is the port: the test's server listens on a
free port instead of 8000, which another process may hold.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.cli.test_local_commands import running

pytestmark = pytest.mark.slow
README = Path(__file__).parent.parent / "README.md"


def tour_script() -> str:
    text = README.read_text()
    block = re.search(r"<!-- tour -->\s*```bash\n(.*?)```\s*<!-- /tour -->", text, re.S)
    assert block is not None, "the README has lost its tour block"
    return block.group(1)


def test_readme_tour_works_as_written(tmp_path: Path) -> None:
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    # `source .venv/bin/activate` in the folder the tour runs in: point it at this interpreter.
    (venv / "activate").write_text(f'export PATH="{Path(sys.executable).parent}:$PATH"\n')
    assert shutil.which("golive", path=str(Path(sys.executable).parent))
    with running("up", cwd=tmp_path) as (process, url):
        assert process.poll() is None
        script = tour_script().replace("http://127.0.0.1:8000", url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOLIVE_")}
        env.update({"COLUMNS": "160", "GOLIVE_CONFIG": str(tmp_path / "config.json")})
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        token = (tmp_path / ".golive" / "admin.token").read_text().strip()
        where = httpx.get(
            f"{url}/api/v1/components/demo-shop/where",
            headers={"Authorization": f"Bearer {token}"},
        ).json()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "web-01" in result.stdout
    assert '"owner": "Web team"' in result.stdout
    assert "Audit chain intact" in result.stdout
    assert "shop@1.0.0: quarantined" in result.stdout
    # shop and the demo fleet's three demo-shop versions
    assert "Checked 4 version(s): 0 corrupt." in result.stdout
    assert '"_type":"timestamp"' in result.stdout.replace(" ", "")
    # The phased rollout to the demo fleet, then the bad build caught by the first wave
    assert "wave 1: prod-web-01" in result.stdout
    assert "Deployment 1 succeeded." in result.stdout
    assert "health_check exited with 1; rolled back" in result.stdout
    assert "Deployment 2 rolled_back." in result.stdout
    assert "rolled back as expected" in result.stdout
    # Change control: refused without a change, deployed under an approved one, then held
    # by a freeze
    assert "requires an authorised change" in result.stderr
    assert "refused: no change" in result.stdout
    assert "is authorised." in result.stdout
    assert "Deployment 3 succeeded." in result.stdout
    assert re.search(r"state\s+implemented", result.stdout)
    assert "deployment 4: waiting_for_window" in result.stdout
    flowing = " ".join(result.stdout.split())  # the caption may wrap
    assert "change CHG-2; waiting for a window: deny window code-freeze is in force" in flowing
    assert where["environments"] == [
        {**where["environments"][0], "environment": "production", "versions": {"1.0.0": 6}}
    ]
