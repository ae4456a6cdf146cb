// The key layout described in the package documentation: callers' keys and
// owner index entries.

package badger

import "encoding/binary"

const (
	keyPrefix   = "k\x00" // a caller's key
	indexPrefix = "o\x00" // an owner index entry
	// pulseKey is the marker a commit of AwaitCommit calls alone writes
	// (batch.go): outside the callers' keys and the owner index.
	pulseKey = "p\x00pulse"
)

// primaryKey is where the caller's key is stored.
func primaryKey(key string) []byte {
	return appendPrimaryKey(make([]byte, 0, len(keyPrefix)+len(key)), key)
}

// appendPrimaryKey appends primaryKey(key) to dst.
func appendPrimaryKey(dst []byte, key string) []byte {
	return append(append(dst, keyPrefix...), key...)
}

// ownerPrefix is the prefix of every index entry of owner.
func ownerPrefix(owner string) []byte {
	b := make([]byte, 0, len(indexPrefix)+binary.MaxVarintLen64+len(owner))
	b = append(b, indexPrefix...)
	b = binary.AppendUvarint(b, uint64(len(owner)))
	return append(b, owner...)
}

// ownerKey is the index entry that lists key under owner.
func ownerKey(owner, key string) []byte {
	return append(ownerPrefix(owner), key...)
}
