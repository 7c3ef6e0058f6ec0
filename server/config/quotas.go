package config

import (
	"strconv"

	"github.com/spf13/pflag"
)

// quotaFlag is an optional integer: unset (nil) means Barbican's default, -1 (unlimited).
type quotaFlag struct{ p **int }

func (f quotaFlag) Type() string { return "int" }

func (f quotaFlag) String() string {
	if f.p == nil || *f.p == nil {
		return "-1"
	}
	return strconv.Itoa(**f.p)
}

func (f quotaFlag) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil {
		return err
	}
	*f.p = &v
	return nil
}

// quotaFlags name the flag of each default quota, with its barbican.conf option.
func (c *Config) quotaFlags() []struct {
	flag, option string
	p            **int
} {
	return []struct {
		flag, option string
		p            **int
	}{
		{"quota-secrets", "quota_secrets", &c.Quotas.Secrets},
		{"quota-orders", "quota_orders", &c.Quotas.Orders},
		{"quota-containers", "quota_containers", &c.Quotas.Containers},
		{"quota-consumers", "quota_consumers", &c.Quotas.Consumers},
		{"quota-cas", "quota_cas", &c.Quotas.CAs},
	}
}

// AddQuotaFlags adds the default project quotas ([quotas] quota_* of barbican.conf).
func (c *Config) AddQuotaFlags(fs *pflag.FlagSet) {
	for _, q := range c.quotaFlags() {
		fs.Var(quotaFlag{q.p}, q.flag, "default project quota ("+q.option+"): -1 unlimited, 0 disables creation, "+
			"n allows n live ones; a project's own quotas (PUT /v1/project-quotas/{id}) win")
	}
}

// QuotaValue is a default quota as a number: unset is -1, unlimited.
func QuotaValue(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}
