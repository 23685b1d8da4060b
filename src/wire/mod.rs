//! Packet views and their parsed forms for IKEv2 (RFC 7296) and ISAKMP/IKEv1 (RFC 2408).
