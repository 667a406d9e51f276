// sem prints the meaning of a YAML or JSON document the way sops (go-yaml v3, encoding/json)
// reads it, as one canonical line per document: the differential tests compare shroud's and
// sops's outputs through it, so neither tool's own parser judges the other.
//
// Usage: sem yaml|json < FILE, or sem floats < HEX-BIT-PATTERNS
//
// Numbers compare by value (an integral float equals the int: sops prints 1.0 as 1), times
// by instant, strings byte for byte; comments, quoting, indentation and key order inside the
// canonical form are presentation only, except that mapping order is kept.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

func num(f float64) string {
	if math.IsInf(f, 1) {
		return "num:+inf"
	}
	if math.IsInf(f, -1) {
		return "num:-inf"
	}
	if math.IsNaN(f) {
		return "num:nan"
	}
	if f == 0 {
		return "num:0" // -0 == 0
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return "num:" + strconv.FormatFloat(f, 'f', -1, 64)
	}
	return "num:" + strconv.FormatFloat(f, 'g', -1, 64)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func scalar(n *yaml.Node) string {
	var v interface{}
	if err := n.Decode(&v); err != nil {
		return "undecodable:" + quote(n.Value)
	}
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("bool:%v", x)
	case int:
		return "num:" + strconv.Itoa(x)
	case int64:
		return "num:" + strconv.FormatInt(x, 10)
	case uint64:
		return "num:" + strconv.FormatUint(x, 10)
	case float64:
		return num(x)
	case string:
		return "str:" + quote(x)
	case []byte:
		return "str:" + quote(string(x))
	case time.Time:
		return "time:" + x.UTC().Format(time.RFC3339Nano)
	default:
		return fmt.Sprintf("other:%T:%v", x, x)
	}
}

func node(n *yaml.Node) string {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return "{}"
		}
		return node(n.Content[0])
	case yaml.MappingNode:
		parts := []string{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			key := quote(k.Value)
			if k.Tag == "!!merge" {
				key = "<<merge>>"
			}
			parts = append(parts, key+"="+node(n.Content[i+1]))
		}
		return "{" + strings.Join(parts, ",") + "}"
	case yaml.SequenceNode:
		parts := []string{}
		for _, c := range n.Content {
			parts = append(parts, node(c))
		}
		return "[" + strings.Join(parts, ",") + "]"
	case yaml.ScalarNode:
		return scalar(n)
	}
	return "?"
}

func jsonValue(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			parts := []string{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return "", err
				}
				v, err := jsonValue(dec)
				if err != nil {
					return "", err
				}
				parts = append(parts, quote(k.(string))+"="+v)
			}
			_, err := dec.Token()
			return "{" + strings.Join(parts, ",") + "}", err
		case '[':
			parts := []string{}
			for dec.More() {
				v, err := jsonValue(dec)
				if err != nil {
					return "", err
				}
				parts = append(parts, v)
			}
			_, err := dec.Token()
			return "[" + strings.Join(parts, ",") + "]", err
		}
	case json.Number:
		f, _ := new(big.Float).SetString(string(t))
		v, _ := f.Float64()
		return num(v), nil
	case string:
		return "str:" + quote(t), nil
	case bool:
		return fmt.Sprintf("bool:%v", t), nil
	case nil:
		return "null", nil
	}
	return "", fmt.Errorf("unexpected token %v", tok)
}

func main() {
	data, _ := io.ReadAll(os.Stdin)
	switch os.Args[1] {
	case "yaml":
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			if err == io.EOF {
				break
			}
			if err != nil {
				fmt.Println("ERROR " + err.Error())
				os.Exit(1)
			}
			fmt.Println(node(&n))
		}
	case "floats":
		// One float64 bit pattern (hex) per line → Go's 'f', 'g' and encoding/json spellings.
		for _, line := range strings.Fields(string(data)) {
			bits, _ := strconv.ParseUint(line, 16, 64)
			f := math.Float64frombits(bits)
			j, _ := json.Marshal(f)
			fmt.Printf("%s %s %s\n", strconv.FormatFloat(f, 'f', -1, 64), strconv.FormatFloat(f, 'g', -1, 64), j)
		}
	case "json":
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.UseNumber()
		v, err := jsonValue(dec)
		if err != nil {
			fmt.Println("ERROR " + err.Error())
			os.Exit(1)
		}
		fmt.Println(v)
	}
}
