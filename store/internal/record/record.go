// Package record is the stored form both store backends share: a value
// prefixed with its owner, so DeleteOwner can tell whether a key still
// belongs to the owner whose index lists it.
package record

import (
	"encoding/binary"
	"errors"
)

// ErrCorrupt is returned for a stored value that Encode did not make.
var ErrCorrupt = errors.New("stored value is malformed")

// Encode prefixes value with its owner, in a new slice.
func Encode(owner string, value []byte) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(owner)+len(value))
	b = binary.AppendUvarint(b, uint64(len(owner)))
	b = append(b, owner...)
	return append(b, value...)
}

// Decode splits a stored value into its owner and the caller's value. The
// value shares raw's memory.
func Decode(raw []byte) (owner string, value []byte, err error) {
	n, size := binary.Uvarint(raw)
	if size <= 0 || n > uint64(len(raw)-size) {
		return "", nil, ErrCorrupt
	}
	end := size + int(n)
	return string(raw[size:end]), raw[end:], nil
}
