//go:build !unix

package main

// lockProcessing does nothing where flock is not available: do not run
// kith serve and kith import on one data directory at once.
func lockProcessing(Config) (func(), error) { return func() {}, nil }
