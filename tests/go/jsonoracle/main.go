// Command jsonoracle reads container create bodies as dockerd 20.10 does, for sockgate's
// differential test of its body inspector (tests/json_oracle.rs).
//
// Each input line is one body, base64-encoded (a body may hold any byte). For each, one output
// line: `error <message>` when dockerd's decoder refuses the body, or `ok <summary>`, where the
// summary is a JSON object with what dockerd reads from the host config it acts on (after
// getHostConfig chose between the inner HostConfig and the deprecated top-level fields) and from
// the container config. Every line is flushed at once, so the test may ask one body at a time.
//
// The types are moby v20.10.24's, cut down to the fields sockgate inspects: encoding/json ignores
// every other key, so a wrong type in a field left out here is not an error, which only makes the
// oracle read more bodies than dockerd does.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strings"
)

// api/types/strslice: a list of strings, or one string.
type StrSlice []string

func (e *StrSlice) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	p := make([]string, 0, 1)
	if err := json.Unmarshal(b, &p); err != nil {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		p = append(p, s)
	}
	*e = p
	return nil
}

// api/types/container.Config, the fields sockgate reads.
type Config struct {
	Image  string
	Labels map[string]string
}

// api/types/mount.
type Driver struct {
	Name    string            `json:",omitempty"`
	Options map[string]string `json:",omitempty"`
}

type VolumeOptions struct {
	DriverConfig *Driver `json:",omitempty"`
}

type Mount struct {
	Type          string         `json:",omitempty"`
	Source        string         `json:",omitempty"`
	ReadOnly      bool           `json:",omitempty"`
	VolumeOptions *VolumeOptions `json:",omitempty"`
}

type LogConfig struct {
	Type string
}

type DeviceMapping struct {
	PathOnHost string
}

// api/types/container.Resources, embedded in HostConfig.
type Resources struct {
	Devices []DeviceMapping
}

// api/types/container.HostConfig, the host-reaching fields.
type HostConfig struct {
	Binds        []string
	LogConfig    LogConfig
	NetworkMode  string
	VolumeDriver string
	VolumesFrom  []string
	CapAdd       StrSlice
	CgroupnsMode string
	IpcMode      string
	PidMode      string
	Privileged   bool
	SecurityOpt  []string
	UTSMode      string
	UsernsMode   string
	Sysctls      map[string]string `json:",omitempty"`
	Runtime      string            `json:",omitempty"`
	Resources
	Mounts []Mount `json:",omitempty"`
}

// runconfig.ContainerConfigWrapper (config_unix.go), field for field.
type ContainerConfigWrapper struct {
	*Config
	InnerHostConfig *HostConfig `json:"HostConfig,omitempty"`
	Cpuset          string      `json:",omitempty"`
	*HostConfig
}

// runconfig getHostConfig, for the fields kept here: the inner HostConfig wins whole when present,
// and takes a top-level VolumeDriver when it names none.
func (w *ContainerConfigWrapper) getHostConfig() *HostConfig {
	hc := w.HostConfig
	if hc == nil && w.InnerHostConfig != nil {
		hc = w.InnerHostConfig
	} else if w.InnerHostConfig != nil {
		if hc.VolumeDriver != "" && w.InnerHostConfig.VolumeDriver == "" {
			w.InnerHostConfig.VolumeDriver = hc.VolumeDriver
		}
		hc = w.InnerHostConfig
	}
	return hc
}

// What one Binds entry mounts.
type Bind struct {
	Raw string `json:"raw"`
	// Host is the cleaned host path of a bind mount; Volume the name of a named volume.
	Host     string `json:"host,omitempty"`
	Volume   string `json:"volume,omitempty"`
	ReadOnly bool   `json:"ro"`
	// Invalid: dockerd refuses the entry when it creates the container.
	Invalid bool `json:"invalid,omitempty"`
}

// volume/mounts/linux_parser.go ParseMountRaw, up to the type and source it decides.
func parseBind(raw string) Bind {
	b := Bind{Raw: raw}
	if strings.Count(raw, ":") > 2 {
		b.Invalid = true
		return b
	}
	arr := strings.SplitN(raw, ":", 3)
	if arr[0] == "" {
		b.Invalid = true
		return b
	}
	var source, mode string
	switch len(arr) {
	case 1:
		return b // an anonymous volume
	case 2:
		if validMountMode(arr[1]) {
			b.Invalid = true
			return b
		}
		source = arr[0]
	case 3:
		source, mode = arr[0], arr[2]
	}
	if !validMountMode(mode) {
		b.Invalid = true
		return b
	}
	b.ReadOnly = false
	for _, o := range strings.Split(mode, ",") {
		if o == "ro" {
			b.ReadOnly = true
		}
	}
	if path.IsAbs(source) {
		b.Host = path.Clean(source)
	} else {
		b.Volume = source
	}
	return b
}

// linuxValidMountMode.
func validMountMode(mode string) bool {
	if mode == "" {
		return true
	}
	counts := map[string]int{}
	for _, o := range strings.Split(mode, ",") {
		switch o {
		case "rw", "ro":
			counts["rw"]++
		case "z", "Z":
			counts["label"]++
		case "private", "rprivate", "slave", "rslave", "shared", "rshared":
			counts["propagation"]++
		case "nocopy":
			counts["copy"]++
		case "consistent", "cached", "delegated":
			counts["consistency"]++
		default:
			return false
		}
	}
	for _, n := range counts {
		if n > 1 {
			return false
		}
	}
	return true
}

type MountRead struct {
	Type     string `json:"type"`
	Source   string `json:"source"`
	Clean    string `json:"clean"`
	ReadOnly bool   `json:"ro"`
	// Of a volume mount's DriverConfig.
	Driver  string            `json:"driver"`
	Options map[string]string `json:"options"`
	// The cleaned `device` option, which the local driver mounts.
	Device string `json:"device"`
}

type Summary struct {
	Image        string            `json:"image"`
	Labels       map[string]string `json:"labels"`
	Privileged   bool              `json:"privileged"`
	Binds        []Bind            `json:"binds"`
	Mounts       []MountRead       `json:"mounts"`
	CapAdd       []string          `json:"cap_add"`
	SecurityOpt  []string          `json:"security_opt"`
	Modes        map[string]string `json:"modes"`
	Devices      []string          `json:"devices"`
	VolumeDriver string            `json:"volume_driver"`
	LogDriver    string            `json:"log_driver"`
	Sysctls      []string          `json:"sysctls"`
	Runtime      string            `json:"runtime"`
	VolumesFrom  []string          `json:"volumes_from"`
}

func summarize(w *ContainerConfigWrapper) Summary {
	s := Summary{Labels: map[string]string{}, Modes: map[string]string{}}
	if w.Config != nil {
		s.Image = w.Config.Image
		for k, v := range w.Config.Labels {
			s.Labels[k] = v
		}
	}
	hc := w.getHostConfig()
	if hc == nil {
		return s
	}
	s.Privileged = hc.Privileged
	for _, raw := range hc.Binds {
		s.Binds = append(s.Binds, parseBind(raw))
	}
	for _, m := range hc.Mounts {
		read := MountRead{Type: m.Type, Source: m.Source, Clean: path.Clean(m.Source), ReadOnly: m.ReadOnly}
		if m.VolumeOptions != nil && m.VolumeOptions.DriverConfig != nil {
			read.Driver = m.VolumeOptions.DriverConfig.Name
			read.Options = m.VolumeOptions.DriverConfig.Options
			if device, ok := read.Options["device"]; ok {
				read.Device = path.Clean(device)
			}
		}
		s.Mounts = append(s.Mounts, read)
	}
	// oci/caps NormalizeLegacyCapabilities: strings.ToUpper (Unicode, so `ſ` is `S` and `ı` is
	// `I`), then the `CAP_` prefix; the name is checked against the kernel's list after that.
	for _, c := range hc.CapAdd {
		c = strings.ToUpper(c)
		if c != "ALL" && !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		s.CapAdd = append(s.CapAdd, c)
	}
	s.SecurityOpt = hc.SecurityOpt
	for name, mode := range map[string]string{
		"NetworkMode":  hc.NetworkMode,
		"PidMode":      hc.PidMode,
		"IpcMode":      hc.IpcMode,
		"UTSMode":      hc.UTSMode,
		"UsernsMode":   hc.UsernsMode,
		"CgroupnsMode": hc.CgroupnsMode,
	} {
		if mode != "" {
			s.Modes[name] = mode
		}
	}
	for _, d := range hc.Devices {
		s.Devices = append(s.Devices, d.PathOnHost)
	}
	s.VolumeDriver = hc.VolumeDriver
	s.LogDriver = hc.LogConfig.Type
	for k := range hc.Sysctls {
		s.Sysctls = append(s.Sysctls, k)
	}
	s.Runtime = hc.Runtime
	s.VolumesFrom = hc.VolumesFrom
	return s
}

func judge(body []byte) string {
	// runconfig decodeContainerConfig: one Decode from a Decoder, so what follows the first
	// value is never read.
	var w ContainerConfigWrapper
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&w); err != nil {
		return "error " + strings.ReplaceAll(err.Error(), "\n", " ")
	}
	out, err := json.Marshal(summarize(&w))
	if err != nil {
		return "error summary: " + err.Error()
	}
	return "ok " + string(out)
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		body, err := base64.StdEncoding.DecodeString(strings.TrimSpace(in.Text()))
		if err != nil {
			fmt.Fprintf(os.Stderr, "jsonoracle: bad input line: %v\n", err)
			os.Exit(2)
		}
		fmt.Fprintln(out, judge(body))
		out.Flush()
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "jsonoracle: %v\n", err)
		os.Exit(2)
	}
}
