"""FHIR R4, read-only, under /fhir/: a layer over the rooms like the pages (docs/fhir.md).

mappers.py turns our records into FHIR resources (one function per resource, checked by
the fhir.resources R4B models as they are built); sources.py says where each resource
comes from and who may read it (the API's role table); views.py reads, searches and
answers `$everything` and `metadata`, with errors as OperationOutcome.
"""
