package repository

import "oras.land/oras-go/v2/registry/remote/credentials"

// DockerCredentials is the credential store of a docker config.json at path (empty: the
// user's, from DOCKER_CONFIG or ~/.docker/config.json), for other readers of registries
// (image sources) to log in exactly as the repository does.
func DockerCredentials(path string) (credentials.Store, error) { return credentialStore(path) }

// LoopbackHost reports whether a registry host[:port] is this machine, which is spoken to
// over plain HTTP.
func LoopbackHost(host string) bool { return isLoopback(host) }
