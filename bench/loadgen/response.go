package main

// Reading an HTTP/1.1 answer by hand, without net/http's client.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

var errMalformed = errors.New("malformed response")

// noAnswerError is a failure to read an answer of which not one byte had
// arrived (or to send the request at all).
type noAnswerError struct{ error }

func (e noAnswerError) Unwrap() error { return e.error }

// readResponse reads one HTTP/1.1 response and discards its body. It
// reports the status and whether the connection stays open.
func readResponse(br *bufio.Reader) (status int, keep bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if len(line) == 0 {
			err = noAnswerError{err}
		}
		return 0, false, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, errMalformed
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, errMalformed
	}
	keep = line[7] == '1'
	length, chunked := -1, false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		if len(line) <= 2 { // "\r\n"
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, false, errMalformed
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, false, errMalformed
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			}
		}
	}
	switch {
	case chunked:
		for {
			line, err = br.ReadSlice('\n')
			if err != nil {
				return 0, false, err
			}
			sz, _, _ := bytes.Cut(bytes.TrimSpace(line), []byte(";"))
			n, err := strconv.ParseInt(string(sz), 16, 64)
			if err != nil {
				return 0, false, errMalformed
			}
			if _, err := br.Discard(int(n) + 2); err != nil { // data + CRLF
				return 0, false, err
			}
			if n == 0 {
				// Trailer section: we sent none, so expect only the CRLF
				// already discarded.
				break
			}
		}
	case length >= 0:
		if _, err := br.Discard(length); err != nil {
			return 0, false, err
		}
	case status == 204 || status == 304 || status/100 == 1:
	default:
		// Body until close.
		_, _ = io.Copy(io.Discard, br)
		keep = false
	}
	return status, keep, nil
}
