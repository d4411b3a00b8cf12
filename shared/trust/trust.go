// Package trust is the domain of OpenAgents Trust: the types every other package
// shares (skills, permissions, signed statements, keyrings, catalog records), the
// service interfaces the adapters implement, and the one error type with codes.
//
// It imports only the standard library. Adapters (sqlite, the HTTP API, the signing
// backends) meet only through the types and interfaces declared here.
package trust
