"""What every config model shares: the strict model base, the errors, the key-path notation and the small rules several models use."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr

from components.config.models.constants import CONSOLE_PASSWORD_LENGTH, NAMESPACE, VERSION
from components.node_commands import DNS1123_LABEL


class ConfigError(Exception):
    """One or more invalid stack config values; each entry is ``(key path, message)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = [f"{path}: {message}" for path, message in problems]
        super().__init__("invalid stack configuration:\n  " + "\n  ".join(lines))


def console_password_problem(password: str) -> str | None:
    """Why ``password`` cannot be typed at the VM's console, or None; the message never repeats it."""
    low, high = CONSOLE_PASSWORD_LENGTH
    if not low <= len(password) <= high:
        return f"must be {low} to {high} characters long (it has {len(password)})"
    if not password.isprintable():
        return "must be printable characters you can type at a console (no newline, tab or control character)"
    return None


def console_password_rule(value: SecretStr | None) -> SecretStr | None:
    if value is not None and (problem := console_password_problem(value.get_secret_value())):
        raise ValueError(problem)
    return value


def version_tuple(version: str) -> tuple[int, int, int]:
    match = VERSION.match(version)
    if not match:
        raise ValueError(f"{version!r} is not a release version like v1.9.0")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


class StrictModel(BaseModel):
    # Unknown keys are refused: a typo such as `lowerDevice` for `lowerDevices` must not be
    # silently ignored.
    model_config = ConfigDict(extra="forbid", populate_by_name=False, frozen=True)


def dns_label(value: str) -> str:
    """``value`` if it is a DNS-1123 label, else ValueError saying what one is (a pydantic validator)."""
    if not DNS1123_LABEL.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label (lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit)"
        )
    return value


def property_path(location: tuple[int | str, ...]) -> str:
    """``('macvtap', 0, 'mac')`` -> ``macvtap[0].mac``: Pulumi's property-path notation (resource.ParsePropertyPath),
    in which a component's refusals name its inputs."""
    path = ""
    for index, part in enumerate(location):
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if index else "") + part
    return path


def key_path(location: tuple[int | str, ...]) -> str:
    """``('vms', 1, 'macvtap', 0, 'network')`` -> ``kvm-in-a-pod:vms[1].macvtap[0].network``."""
    return f"{NAMESPACE}:{property_path(location)}"
