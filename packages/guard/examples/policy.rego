# The OPA policy of examples/pygeoapi.ts (opaMode), in Rego v1 (OPA ≥ 1.0).
# The guard posts { "input": { ...claims, "request_method", "request_path", "guard": {...} } } to
# /v1/data/httpapi/authz; request_path is relative to the /geoapi mount (pathPrefix).
# Per-company collections, as in fastgeoapi's Keycloak + OPA walkthrough, but with the rules on.
package httpapi.authz

default allow := false

owners := {"obs": "acme", "lakes": "public"}

# Anyone signed in may list the collections.
allow if {
	input.request_method == "GET"
	input.request_path == ["collections"]
}

# Reading a collection or its items: open collections for all, the others for their company.
allow if {
	input.request_method == "GET"
	input.request_path[0] == "collections"
	count(input.request_path) > 1
	owner := owners[input.request_path[1]]
	owner in {"public", input.company}
}

# Adding items: the owning company only, with the features:write scope.
allow if {
	input.request_method == "POST"
	input.request_path[0] == "collections"
	input.request_path[2] == "items"
	owners[input.request_path[1]] == input.company
	"features:write" in input.guard.scopes
}
