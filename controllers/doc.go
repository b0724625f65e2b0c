// Package controllers holds one thin reconciler per flarecast kind. A reconciler fetches its
// object and what it references, asks internal/model (or another domain package) what holds,
// and records the answer: conditions, counts, events, and one server-side-apply patch of
// status. It decides nothing the domain packages can compute, and it never does heavy work.
package controllers
