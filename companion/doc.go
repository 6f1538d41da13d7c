// Package companion is the domain of the Asterisk state companion: device
// and mailbox states, the keys and Entity IDs that identify them, the state
// table shared by the AMI, SIP and ARI sides, the filters of
// res_pjsip_publish_asterisk, its JSON wire codec and the configuration.
//
// It imports no adapter. The ami/ and ari/ packages implement the small
// interfaces declared here; cmd/ wires them together.
package companion
