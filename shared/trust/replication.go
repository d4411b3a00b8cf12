package trust

import "context"

// Replication is a node's place in a replicated catalog: one primary takes the
// writes, replicas follow it. Positions are transaction IDs of the catalog
// database, increasing with every committed write. A single node with no
// replication uses a Replication that always writes locally.
type Replication interface {
	// WriteRoute says where a write received by this node goes. EUNAVAILABLE
	// while the primary is unknown (e.g. a replica disconnected from it).
	WriteRoute(ctx context.Context) (WriteRoute, error)

	// Position returns the last transaction this node holds.
	Position(ctx context.Context) (uint64, error)

	// WaitPosition returns once this node holds transaction txid.
	// EUNAVAILABLE when it does not arrive in time.
	WaitPosition(ctx context.Context, txid uint64) error

	// WaitReplicas returns once enough replicas hold transaction txid for a
	// write to be acknowledged as durable. EUNAVAILABLE when they do not
	// confirm it in time: the write may or may not be durable.
	WaitReplicas(ctx context.Context, txid uint64) error
}

// WriteRoute is where a write goes. Exactly one of its fields is set.
type WriteRoute struct {
	// Local: this node is the primary and runs the write itself.
	Local bool

	// URL is the base URL of the primary's API, to forward the write to.
	URL string

	// FlyInstance is the Fly Machine ID of the primary: the node answers with
	// a `fly-replay: instance=<id>` header and Fly's proxy replays the request.
	FlyInstance string
}
