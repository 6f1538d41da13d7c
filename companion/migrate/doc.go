// Package migrate turns the res_pjsip_publish_asterisk setup of a
// pjsip.conf into the companion's TOML file (companion migrate).
//
// Load reads pjsip.conf as Asterisk's configuration parser does: ';'
// comments and ';-- --;' blocks, '\;', '=' and '=>', '+=', templates
// ([name](!), [obj](tmpl,...)), additions ([name](+)), #include and
// #tryinclude, all within fixed bounds (file size, include depth, loops).
// Convert maps the endpoint, identify, auth, outbound-publish,
// inbound-publication and asterisk-publication sections onto [[peer]]
// tables, and says in a comment every setting it could not carry over.
//
// The TOML is written by hand: only companion/config imports the TOML
// library; the tests check every output with it.
package migrate
