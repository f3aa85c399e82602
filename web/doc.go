// Package web is Kith's console: server-rendered pages (html/template) with
// their assets embedded in the binary, so nothing needs building to run it.
// People sign in with a name and password; their role decides what they
// see, and every profile they open is recorded in the audit log by the
// profile service.
package web
