"""The screening checklist (CLINICAL.md section 3), shipped as editable data.

Absolute items block booking; relative ones need a clinician's sign-off with a written
reason. Sources: the founding documents (IV ketamine practice) and the Spravato label
(aneurysmal vascular disease or AVM, intracerebral haemorrhage, hypersensitivity). Which
protocols each item applies to is linked in scheduling 0004.

Forward creates only missing codes, so a clinic's edits survive a re-run; backward removes
only the shipped items that no screening has answered yet.
"""

from django.db import migrations

ABSOLUTE = "absolute"
RELATIVE = "relative"

# (code, kind, name, description)
CHECKLIST = [
    (
        "active-psychosis-or-mania",
        ABSOLUTE,
        "Active psychosis or mania",
        "Current psychotic symptoms or a manic or hypomanic episode.",
    ),
    (
        "uncontrolled-hypertension",
        ABSOLUTE,
        "Uncontrolled high blood pressure",
        "Raised blood pressure that is not controlled by treatment. Ketamine and esketamine "
        "raise blood pressure, with a peak about 40 minutes after the dose.",
    ),
    (
        "active-internal-bleeding",
        ABSOLUTE,
        "Active internal bleeding",
        "",
    ),
    (
        "pregnancy-or-breastfeeding",
        ABSOLUTE,
        "Pregnant, possibly pregnant, or breastfeeding",
        "",
    ),
    (
        "under-18",
        ABSOLUTE,
        "Under 18 years old",
        "Children and adolescents are not treated.",
    ),
    (
        "aneurysmal-vascular-disease-or-avm",
        ABSOLUTE,
        "Aneurysmal vascular disease or arteriovenous malformation",
        "Including thoracic and abdominal aorta, intracranial and peripheral arterial vessels "
        "(Spravato label contraindication).",
    ),
    (
        "intracerebral-haemorrhage-history",
        ABSOLUTE,
        "History of intracerebral haemorrhage",
        "Spravato label contraindication.",
    ),
    (
        "ketamine-hypersensitivity",
        ABSOLUTE,
        "Hypersensitivity to ketamine or esketamine",
        "A previous allergic or hypersensitivity reaction to either drug or an excipient.",
    ),
    (
        "psychosis-history",
        RELATIVE,
        "History of psychosis, or family history of schizophrenia",
        "Ketamine can bring on psychotic-like symptoms.",
    ),
    (
        "cardiovascular-disease",
        RELATIVE,
        "Cardiovascular disease",
        "For example coronary artery disease, heart failure, valve disease, arrhythmia, or a "
        "previous stroke or heart attack.",
    ),
    (
        "thyroid-disease",
        RELATIVE,
        "Thyroid disease",
        "Especially an overactive thyroid, which adds to the rise in heart rate and blood "
        "pressure.",
    ),
    (
        "liver-or-kidney-disease",
        RELATIVE,
        "Liver or kidney disease",
        "Impaired clearance; ketamine is metabolised by the liver.",
    ),
    (
        "glaucoma",
        RELATIVE,
        "Glaucoma or raised pressure in the eye",
        "",
    ),
    (
        "substance-use-disorder",
        RELATIVE,
        "Substance use disorder",
        "Including alcohol use disorder and opioid or heroin dependence; ketamine has a "
        "potential for misuse.",
    ),
    (
        "sedating-medications",
        RELATIVE,
        "Takes opioids, benzodiazepines or other sedatives",
        "Including non-benzodiazepine sleeping tablets and sedating anxiety treatments: they "
        "deepen sedation and respiratory depression (also asked on the REMS monitoring form).",
    ),
    (
        "stimulant-or-maoi-medications",
        RELATIVE,
        "Takes psychostimulants, MAOIs or other interacting antidepressants",
        "Psychostimulants (e.g. amphetamines, methylphenidate, modafinil) and monoamine "
        "oxidase inhibitors can raise blood pressure further (also asked on the REMS "
        "monitoring form).",
    ),
]


def create(apps, schema_editor):
    Contraindication = apps.get_model("patients", "Contraindication")
    for position, (code, kind, name, description) in enumerate(CHECKLIST, start=1):
        Contraindication.objects.get_or_create(
            code=code,
            defaults=dict(kind=kind, name=name, description=description, order=position * 10),
        )


def remove(apps, schema_editor):
    Contraindication = apps.get_model("patients", "Contraindication")
    Contraindication.objects.filter(
        code__in=[row[0] for row in CHECKLIST], answers__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("patients", "0002_rems_and_screening")]

    operations = [migrations.RunPython(create, remove)]
