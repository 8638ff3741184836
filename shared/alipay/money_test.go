package alipay

import (
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
)

// moneyReAmount is the wire grammar of §10: ParseAmount must accept exactly this
// (within the 15-digit yuan bound).
var moneyReAmount = regexp.MustCompile(`^(0|[1-9][0-9]*)(\.[0-9]{1,2})?$`)

func TestParseAmount(t *testing.T) {
	accepted := []struct {
		name, in, wire string
		fen            Amount
	}{
		{"one_fen", "0.01", "0.01", 1},
		{"zero_yuan_is_parsed_range_is_separate", "0", "0.00", 0},
		{"whole_yuan", "1", "1.00", 100},
		{"one_decimal_is_tens_of_fen", "1.5", "1.50", 150},
		{"two_decimals", "100.00", "100.00", 10000},
		{"maximum", "100000000.00", "100000000.00", MaxAmount},
		{"fifteen_digit_yuan", "999999999999999.99", "999999999999999.99", 99999999999999999},
	}
	for _, tc := range accepted {
		t.Run("accepts_"+tc.name, func(t *testing.T) {
			got, err := ParseAmount(tc.in)
			if err != nil {
				t.Fatalf("ParseAmount(%q): %v", tc.in, err)
			}
			if got != tc.fen {
				t.Fatalf("ParseAmount(%q) = %d fen, want %d", tc.in, got, tc.fen)
			}
			if s := got.String(); s != tc.wire {
				t.Fatalf("String() = %q, want %q", s, tc.wire)
			}
		})
	}
	rejected := []struct{ name, in string }{
		{"empty", ""},
		{"leading_zero", "01"},
		{"leading_zeros_with_decimals", "00.10"},
		{"trailing_dot", "1."},
		{"missing_integer_part", ".5"},
		{"three_decimals", "1.234"},
		{"negative", "-1"},
		{"plus_sign", "+1"},
		{"exponent", "1e2"},
		{"leading_space", " 1"},
		{"trailing_space", "1 "},
		{"nan", "NaN"},
		{"infinity", "Inf"},
		{"comma_decimal", "1,00"},
		{"two_dots", "1.0.0"},
		{"letters_in_decimals", "1.a0"},
		{"full_width_digits", "１"},
		{"huge", "1000000000000000"},
		{"very_huge", strings.Repeat("9", 40)},
	}
	for _, tc := range rejected {
		t.Run("rejects_"+tc.name, func(t *testing.T) {
			got, err := ParseAmount(tc.in)
			if err == nil {
				t.Fatalf("ParseAmount(%q) = %d, want error", tc.in, got)
			}
			if !errors.Is(err, ErrBadAmount) {
				t.Fatalf("error %v does not wrap ErrBadAmount", err)
			}
		})
	}
}

func TestAmountString(t *testing.T) {
	cases := []struct {
		name string
		a    Amount
		want string
	}{
		{"zero", 0, "0.00"},
		{"one_fen", 1, "0.01"},
		{"ten_fen", 10, "0.10"},
		{"yuan_and_fen", 100050, "1000.50"},
		{"maximum", MaxAmount, "100000000.00"},
		{"negative", -150, "-1.50"},
		{"min_int64_does_not_overflow", math.MinInt64, "-92233720368547758.08"},
		{"max_int64", math.MaxInt64, "92233720368547758.07"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.String(); got != tc.want {
				t.Fatalf("Amount(%d).String() = %q, want %q", int64(tc.a), got, tc.want)
			}
		})
	}
}

func TestAmountJSON(t *testing.T) {
	t.Run("marshals_as_two_decimal_string", func(t *testing.T) {
		b, err := json.Marshal(struct {
			A Amount `json:"a"`
		}{10050})
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != `{"a":"100.50"}` {
			t.Fatalf("got %s", b)
		}
	})
	accepted := []struct {
		name, in string
		want     Amount
	}{
		{"string", `"100.00"`, 10000},
		{"string_one_decimal", `"1.5"`, 150},
		{"number_with_one_decimal", `100.5`, 10050},
		{"number_with_two_decimals", `100.00`, 10000},
		{"integer_number", `600`, 60000},
		{"escaped_string", `"\u0031.00"`, 100},
	}
	for _, tc := range accepted {
		t.Run("accepts_"+tc.name, func(t *testing.T) {
			var a Amount
			if err := json.Unmarshal([]byte(tc.in), &a); err != nil {
				t.Fatalf("Unmarshal(%s): %v", tc.in, err)
			}
			if a != tc.want {
				t.Fatalf("Unmarshal(%s) = %d, want %d", tc.in, a, tc.want)
			}
		})
	}
	t.Run("null_leaves_value_unchanged", func(t *testing.T) {
		a := Amount(7)
		if err := json.Unmarshal([]byte(`null`), &a); err != nil || a != 7 {
			t.Fatalf("got %d, %v; want 7, nil", a, err)
		}
	})
	rejected := []struct{ name, in string }{
		{"number_exponent", `1e2`},
		{"string_exponent", `"1e2"`},
		{"negative_number", `-1`},
		{"three_decimals_number", `1.234`},
		{"three_decimals_string", `"1.234"`},
		{"boolean", `true`},
		{"object", `{}`},
		{"empty_string", `""`},
		{"spaced_string", `" 1.00"`},
	}
	for _, tc := range rejected {
		t.Run("rejects_"+tc.name, func(t *testing.T) {
			var a Amount
			if err := json.Unmarshal([]byte(tc.in), &a); err == nil {
				t.Fatalf("Unmarshal(%s) = %d, want error", tc.in, a)
			}
		})
	}
	t.Run("round_trips", func(t *testing.T) {
		for _, a := range []Amount{1, 99, 100, 12345, MaxAmount} {
			b, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			var back Amount
			if err := json.Unmarshal(b, &back); err != nil || back != a {
				t.Fatalf("%d -> %s -> %d, %v", a, b, back, err)
			}
		}
	})
}

func TestAmountCheckRange(t *testing.T) {
	cases := []struct {
		name string
		a    Amount
		ok   bool
	}{
		{"rejects_zero", 0, false},
		{"rejects_negative", -1, false},
		{"accepts_one_fen", 1, true},
		{"accepts_maximum", MaxAmount, true},
		{"rejects_one_fen_over_maximum", MaxAmount + 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.a.CheckRange()
			if (err == nil) != tc.ok {
				t.Fatalf("CheckRange(%s) = %v, want ok=%v", tc.a, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBadAmount) {
				t.Fatalf("error %v does not wrap ErrBadAmount", err)
			}
		})
	}
}

// FuzzParseAmount: ParseAmount accepts exactly the §10 grammar (up to 15 yuan
// digits), and whatever it accepts formats back to text that parses to the same value.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"0.01", "1", "1.5", "100.00", "100000000.00", "01", "1.", ".5",
		"1e2", "-1", "+1", " 1", "NaN", "999999999999999.99", "1000000000000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAmount(s)
		intDigits := len(s)
		if i := strings.IndexByte(s, '.'); i >= 0 {
			intDigits = i
		}
		grammar := moneyReAmount.MatchString(s)
		if err != nil {
			if !errors.Is(err, ErrBadAmount) {
				t.Fatalf("ParseAmount(%q) error %v does not wrap ErrBadAmount", s, err)
			}
			if grammar && intDigits <= 15 {
				t.Fatalf("ParseAmount(%q) rejected a well-formed amount: %v", s, err)
			}
			return
		}
		if !grammar {
			t.Fatalf("ParseAmount(%q) = %d accepted text outside the grammar", s, a)
		}
		if a < 0 {
			t.Fatalf("ParseAmount(%q) = %d is negative", s, a)
		}
		w := a.String()
		if !moneyReAmount.MatchString(w) {
			t.Fatalf("String() = %q is outside the grammar", w)
		}
		back, err := ParseAmount(w)
		if err != nil || back != a {
			t.Fatalf("ParseAmount(%q) = %d; String %q reparses to %d, %v", s, a, w, back, err)
		}
	})
}
