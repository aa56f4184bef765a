package avro

// RegistryErrorKind says what an error from a schema-registry client call
// (srclient) means, as this package's serdes judge it: [ErrRegistryUnavailable]
// (which wraps serde.ErrTransient) when the registry could not be reached,
// timed out, or answered 5xx, 408 or 429 — retrying later may succeed;
// notFound when it answered "not found" (HTTP 404, Confluent error codes
// 404xx); [ErrRegistryRejected] for any other answer (409 incompatible,
// 401/403, a response that is not a registry's) and for TLS failures that
// need a configuration change (an untrusted or wrong-host certificate, a
// refused handshake, https to a plain-HTTP port). Code outside this package
// that talks to the registry through the same client (the connector
// converters) uses it to classify failures the same way.
func RegistryErrorKind(err error, notFound error) error {
	switch classifyRegistryError(err) {
	case registryNotFound:
		return notFound
	case registryUnavailable:
		return ErrRegistryUnavailable
	}
	return ErrRegistryRejected
}
