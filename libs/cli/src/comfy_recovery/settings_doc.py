"""Every environment variable of every service, from the Settings classes themselves."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, BaseModel
from pydantic_settings import BaseSettings

from comfy_recovery.stackconfig import SERVICES


@dataclass(frozen=True)
class EnvVar:
    """One setting as the environment spells it."""

    name: str
    default: Any
    description: str
    required: bool
    secret: bool
    service: str


def settings_class(service: str) -> type[BaseSettings]:
    """The `Settings` class of a service package."""
    settings: type[BaseSettings] = importlib.import_module(f"{service}.config").Settings
    return settings


def env_vars(cls: type[BaseSettings], service: str, prefix: str | None = None) -> Iterator[EnvVar]:
    """The env names of `cls` (nested BaseSettings fields use their own prefix)."""
    prefix = cls.model_config.get("env_prefix", "") if prefix is None else prefix
    for name, field in cls.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseSettings):
            yield from env_vars(kind, service)
            continue
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            nested = cls.model_config.get("env_nested_delimiter") or "__"
            yield from _group(kind, f"{prefix}{name}{nested}".upper(), service)
            continue
        alias = field.validation_alias
        env = (
            str(alias.choices[0])
            if isinstance(alias, AliasChoices)
            else str(alias or f"{prefix}{name}").upper()
        )
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        secret = "Secret" in str(kind)
        yield EnvVar(env, default, field.description or "", field.is_required(), secret, service)


def _group(model: type[BaseModel], prefix: str, service: str) -> Iterator[EnvVar]:
    """A nested settings group: ``<PREFIX><GROUP>__<FIELD>``."""
    for name, field in model.model_fields.items():
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        yield EnvVar(
            f"{prefix}{name}".upper(),
            default,
            field.description or "",
            field.is_required(),
            "Secret" in str(field.annotation),
            service,
        )


def all_env_vars() -> list[EnvVar]:
    """Every service's variables; shared ones (``CR_NATS_*``) once, marked ``all``."""
    seen: dict[str, EnvVar] = {}
    for service in SERVICES:
        for var in env_vars(settings_class(service), service):
            if var.name in seen and seen[var.name].service != service:
                seen[var.name] = EnvVar(
                    var.name,
                    var.default,
                    var.description,
                    var.required,
                    var.secret,
                    _join(seen[var.name].service, service),
                )
            else:
                seen.setdefault(var.name, var)
    return sorted(seen.values(), key=lambda v: (v.name.count("_NATS_") == 0, v.name))


def _join(a: str, b: str) -> str:
    parts = sorted(set(a.split(", ")) | {b})
    return "all" if len(parts) == len(SERVICES) else ", ".join(parts)


def markdown_table() -> str:
    """The README's configuration table."""
    lines = ["| variable | default | service | what it does |", "|---|---|---|---|"]
    for var in all_env_vars():
        default = (
            "*(secret)*" if var.secret else ("*(required)*" if var.required else f"`{var.default}`")
        )
        lines.append(f"| `{var.name}` | {default} | {var.service} | {var.description} |")
    return "\n".join(lines)


START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"


def rewrite(path: str) -> None:
    """Replace the table between the markers of a Markdown file."""
    with open(path) as handle:
        text = handle.read()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    with open(path, "w") as handle:
        handle.write(f"{head}{START}\n{markdown_table()}\n{END}{tail}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        rewrite(sys.argv[2])
    else:
        sys.stdout.write(markdown_table() + "\n")
