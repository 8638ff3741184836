package alipay

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Amount is a sum of money in fen (0.01 CNY). Money never passes through floats.
type Amount int64

// Bounds of amounts Alipay accepts for these APIs (§10): 0.01 to 100000000.00 yuan.
const (
	MinAmount Amount = 1
	MaxAmount Amount = 100000000_00
)

// ErrBadAmount is wrapped by every amount parsing error.
var ErrBadAmount = errors.New("alipay: bad amount")

// ParseAmount parses a yuan decimal string with at most two decimals
// (`^(0|[1-9][0-9]*)(\.[0-9]{1,2})?$`) into fen. Signs, exponents, spaces and NaN are
// rejected. Range checks are separate (CheckRange).
func ParseAmount(s string) (Amount, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: empty", ErrBadAmount)
	}
	i := 0
	var yuan int64
	if s[0] == '0' {
		i = 1
	} else {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if i >= 15 {
				return 0, fmt.Errorf("%w: too large", ErrBadAmount)
			}
			yuan = yuan*10 + int64(s[i]-'0')
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("%w: must be a decimal number of yuan like 100.00", ErrBadAmount)
		}
	}
	var fen int64
	if i < len(s) {
		if s[i] != '.' {
			return 0, fmt.Errorf("%w: must be a decimal number of yuan like 100.00", ErrBadAmount)
		}
		frac := s[i+1:]
		if len(frac) < 1 || len(frac) > 2 {
			return 0, fmt.Errorf("%w: at most two decimals", ErrBadAmount)
		}
		for j := 0; j < len(frac); j++ {
			c := frac[j]
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("%w: must be a decimal number of yuan like 100.00", ErrBadAmount)
			}
			fen = fen*10 + int64(c-'0')
		}
		if len(frac) == 1 {
			fen *= 10
		}
	}
	return Amount(yuan*100 + fen), nil
}

// MustAmount parses s or panics; for constants in tests and examples only.
func MustAmount(s string) Amount {
	a, err := ParseAmount(s)
	if err != nil {
		panic(err)
	}
	return a
}

// String formats the amount with exactly two decimals, as sent on the wire.
func (a Amount) String() string {
	neg := a < 0
	u := uint64(a)
	if neg {
		u = -u // two's complement: correct for math.MinInt64 too, where -a overflows
	}
	y := strconv.FormatUint(u/100, 10)
	f := u % 100
	s := y + "." + string(rune('0'+f/10)) + string(rune('0'+f%10))
	if neg {
		return "-" + s
	}
	return s
}

// CheckRange reports whether a is within [MinAmount, MaxAmount].
func (a Amount) CheckRange() error {
	if a < MinAmount || a > MaxAmount {
		return fmt.Errorf("%w: must be between 0.01 and 100000000.00", ErrBadAmount)
	}
	return nil
}

// MarshalJSON writes the amount as a two-decimal string ("100.00").
func (a Amount) MarshalJSON() ([]byte, error) {
	return []byte(`"` + a.String() + `"`), nil
}

// UnmarshalJSON accepts a decimal string or a JSON number that converts exactly (no
// exponent, at most two decimals); the number's literal text is parsed, never a float.
// A JSON null leaves the amount unchanged, as encoding/json does for plain values.
func (a *Amount) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%w: not a string", ErrBadAmount)
		}
		v, err := ParseAmount(s)
		if err != nil {
			return err
		}
		*a = v
		return nil
	}
	v, err := ParseAmount(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}
