package teleporttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"

	"github.com/gravitational/teleport/api/constants"
	"github.com/gravitational/teleport/api/identityfile"
	"golang.org/x/crypto/ssh"
)

// clockSkew backdates every certificate's NotBefore so that a freshly issued
// identity is valid at once even if clocks differ slightly.
const clockSkew = time.Minute

// caValidity is how long the sandbox's certificate authorities and server
// certificate stay valid; far longer than any test.
const caValidity = 7 * 24 * time.Hour

// authority is one cluster's pair of certificate authorities: X.509 for the
// gRPC mutual TLS, SSH because identity files always carry an SSH
// certificate too (the client refuses an identity file without one).
type authority struct {
	clusterName string
	tlsKey      crypto.Signer
	tlsCert     *x509.Certificate
	tlsCertPEM  []byte
	sshSigner   ssh.Signer
}

func newAuthority(clusterName string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	subject := pkix.Name{Organization: []string{clusterName}, CommonName: clusterName}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               subject,
		Issuer:                subject,
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	sshKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate SSH CA key: %w", err)
	}
	sshSigner, err := ssh.NewSignerFromKey(sshKey)
	if err != nil {
		return nil, fmt.Errorf("make SSH CA signer: %w", err)
	}
	return &authority{
		clusterName: clusterName,
		tlsKey:      key,
		tlsCert:     cert,
		tlsCertPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		sshSigner:   sshSigner,
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

func (a *authority) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.tlsCert)
	return p
}

// serverTLS issues the auth server's certificate. It names the SNI the
// Teleport client always sends (constants.APIDomain) and 127.0.0.1, and it
// requires a client certificate signed by this authority.
func (a *authority) serverTLS() (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate server key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{a.clusterName}, CommonName: constants.APIDomain},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(caValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{constants.APIDomain, "*." + constants.APIDomain, "localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.tlsCert, key.Public(), a.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("create server certificate: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    a.pool(),
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// identity issues an identity file for user valid for ttl, in the layout
// `tctl auth sign --format=file` writes: private key, SSH certificate, TLS
// certificate, SSH CA line, TLS CA certificate. The user name travels in the
// TLS certificate's common name, as Teleport encodes it.
func (a *authority) identity(user string, ttl time.Duration) (string, error) {
	if strings.TrimSpace(user) == "" {
		return "", fmt.Errorf("identity needs a user name")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("identity ttl must be positive, got %s", ttl)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate identity key: %w", err)
	}
	now := time.Now()
	notAfter := now.Add(ttl)
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{a.clusterName}, CommonName: user},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.tlsCert, key.Public(), a.tlsKey)
	if err != nil {
		return "", fmt.Errorf("create identity certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("encode identity key: %w", err)
	}

	sshPub, err := ssh.NewPublicKey(key.Public())
	if err != nil {
		return "", fmt.Errorf("make SSH public key: %w", err)
	}
	sshCert := &ssh.Certificate{
		Key:             sshPub,
		Serial:          serial().Uint64(),
		CertType:        ssh.UserCert,
		KeyId:           user,
		ValidPrincipals: []string{user},
		ValidAfter:      uint64(now.Add(-clockSkew).Unix()),
		ValidBefore:     uint64(notAfter.Unix()),
	}
	if err := sshCert.SignCert(rand.Reader, a.sshSigner); err != nil {
		return "", fmt.Errorf("sign SSH certificate: %w", err)
	}
	caLine := fmt.Sprintf("@cert-authority %s,*.%s %s type=host\n",
		a.clusterName, a.clusterName, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(a.sshSigner.PublicKey()))))

	out, err := identityfile.Encode(&identityfile.IdentityFile{
		PrivateKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		Certs: identityfile.Certs{
			SSH: ssh.MarshalAuthorizedKey(sshCert),
			TLS: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		},
		CACerts: identityfile.CACerts{
			SSH: [][]byte{[]byte(caLine)},
			TLS: [][]byte{a.tlsCertPEM},
		},
	})
	if err != nil {
		return "", fmt.Errorf("encode identity file: %w", err)
	}
	return string(out), nil
}
