// Package render turns a resolved cluster model into the content of a deployable archive's
// cluster section: the foundation-service configuration files (Go text/templates from the
// Cluster, rendered with the model as data), the node table, the software-load descriptor,
// and each node's install plan (installplan.Plan, the node agent's instructions).
//
// It is pure: it takes the api/v1alpha1 objects, the model.Result and the template texts it
// is handed (the controller fetches ConfigMap and Secret content) and returns archive values.
// It never talks to the API server nor to a repository, and it decides nothing about when a
// deployable archive is built.
package render
