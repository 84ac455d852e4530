"""Protocols as data: created and edited through here, validated as a whole."""

from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import Protocol, ProtocolPhase
from ..planning import PhaseSpec


@transaction.atomic
def protocol_create(*, phases: Sequence[dict[str, Any]], **fields: Any) -> Protocol:
    """Create a protocol and its ordered phases; all valid, or nothing is written.

    `fields` are Protocol fields (clinic, code, name, drug, route, session_minutes, ...);
    each phase is a dict of ProtocolPhase fields, in order.
    """
    if not phases:
        raise ValidationError({"phases": "A protocol needs at least one phase."})
    protocol = Protocol(**fields)
    protocol.full_clean()
    protocol.save()
    protocol_phases_replace(protocol=protocol, phases=phases)
    return protocol


def protocol_phases_replace(*, protocol: Protocol, phases: Sequence[dict[str, Any]]) -> None:
    objs = []
    errors: dict[str, list[str]] = {}
    for order, data in enumerate(phases, start=1):
        phase = ProtocolPhase(protocol=protocol, order=order, **data)
        try:
            phase.full_clean(exclude=["protocol"], validate_unique=False)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors.setdefault(f"phases[{order - 1}].{field}", []).extend(messages)
        objs.append(phase)
    open_ended = [i for i, p in enumerate(objs) if p.periods is None]
    if open_ended and open_ended[0] != len(objs) - 1:
        errors.setdefault(f"phases[{open_ended[0]}].periods", []).append(
            "Only the last phase can be open-ended."
        )
    if errors:
        raise ValidationError(errors)
    protocol.phases.all().delete()
    ProtocolPhase.objects.bulk_create(objs)


def protocol_validate_phases(phases: Iterable[ProtocolPhase]) -> None:
    """Phases in their order: only the last may be open-ended."""
    phases = list(phases)
    for phase in phases[:-1]:
        if phase.periods is None:
            raise ValidationError(
                {"periods": f"Only the last phase can be open-ended ({phase.name} is not last)."}
            )


def protocol_phase_specs(protocol: Protocol) -> list[PhaseSpec]:
    phases = list(protocol.phases.order_by("order"))
    if not phases:
        raise ValidationError({"protocol": f"Protocol {protocol.name} has no phases."})
    protocol_validate_phases(phases)
    return [
        PhaseSpec(
            key=p.id,
            sessions_per_period=p.sessions_per_period,
            period_unit=p.period_unit,
            period_length=p.period_length,
            periods=p.periods,
        )
        for p in phases
    ]
