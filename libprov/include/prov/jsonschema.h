/*
 * prov/jsonschema.h - validate a JSON document against a JSON Schema (jansson).
 *
 * Implements the subset of JSON Schema draft 2020-12 that provkit's schemas use
 * (listed in docs/template-format.md): type, enum, const, properties, required,
 * additionalProperties (bool or schema), patternProperties, items, prefixItems,
 * minItems, maxItems, uniqueItems, minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum, multipleOf (integers), minLength, maxLength (in code points),
 * pattern and patternProperties (ECMA-262 regular expressions, the subset in
 * prov/jsregex.h; a pattern outside it is a schema error), format is ignored
 * (annotation), allOf, anyOf, oneOf, not, if/then/else, $ref to
 * "#/$defs/NAME" (local only), $defs, $schema, $id, title, description, default,
 * examples, $comment.  A keyword outside this list in the *schema* is an error, so
 * a schema never silently means less than it says.
 *
 * Errors name the JSON path of the offending instance value in the form
 * "$.credentials[1].slot: must be >= 0".  Reentrant; no global state.
 */
#ifndef PROV_JSONSCHEMA_H
#define PROV_JSONSCHEMA_H

#include <jansson.h>

#include "prov/err.h"

/* Validate `instance` against `schema`.  PROV_OK, or PROV_E_INPUT with the first
 * error (in document order) in e->msg; PROV_E_INTERNAL if the schema itself is
 * invalid or uses an unsupported keyword. */
prov_status prov_jsonschema_validate(const json_t *schema, const json_t *instance,
                                     prov_err *e);

#endif
