//! Kernel intents turned into XFRM and rtnetlink requests.
