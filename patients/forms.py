"""The screening checklist as form fields, for the admin and the pages alike.

Every active item is asked yes or no explicitly: an item left unanswered is an error,
never a silent "no". The rules about answers are screening_record's.
"""

from django import forms

from .models import Contraindication

YES_NO = [("no", "No"), ("yes", "Yes")]


def checklist_fields(items: list[Contraindication]) -> dict[str, forms.Field]:
    """An answer field and a note field for each checklist item, by field name."""
    fields: dict[str, forms.Field] = {}
    for item in items:
        fields[f"item_{item.id}"] = forms.ChoiceField(
            label=item.name,
            choices=YES_NO,
            widget=forms.RadioSelect,
            help_text=f"{item.get_kind_display()}. {item.description}".strip(),
        )
        fields[f"note_{item.id}"] = forms.CharField(label="Note", required=False)
    return fields


def checklist_answers(
    cleaned_data: dict, items: list[Contraindication]
) -> list[tuple[int, bool, str]]:
    """The answers as screening_record takes them: (item id, present, note)."""
    return [
        (item.id, cleaned_data[f"item_{item.id}"] == "yes", cleaned_data.get(f"note_{item.id}", ""))
        for item in items
    ]
