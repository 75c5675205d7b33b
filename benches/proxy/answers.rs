//! The engine answers the stub serves: a `docker ps` list and a container's `docker inspect`, as
//! dockerd 27 renders them, with deterministic ids. It only builds bodies; it serves nothing.

use bytes::Bytes;

use crate::stub::OWNER;

/// A `docker ps` answer of about 20 KB: compose-style containers with ports, labels, one network
/// and one volume each, as `GET /containers/json` returns them.
pub fn container_list() -> Bytes {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut hex = move || {
        (0..4)
            .map(|_| {
                // xorshift64: deterministic ids without a random-number dependency.
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                format!("{seed:016x}")
            })
            .collect::<String>()
    };
    let services = [
        ("web", "nginx:1.27-alpine", "/docker-entrypoint.sh nginx -g 'daemon off;'", 80),
        ("api", "bench/api:2.4.1", "/usr/local/bin/api --config /etc/api.toml", 8080),
        ("db", "postgres:16.4", "docker-entrypoint.sh postgres", 5432),
        ("cache", "redis:7.4", "docker-entrypoint.sh redis-server", 6379),
    ];
    let mut list = Vec::new();
    let mut size = 2;
    let mut i = 0usize;
    while size < 20_000 {
        let (service, image, command, port) = services[i % services.len()];
        let n = i / services.len() + 1;
        let entry = serde_json::json!({
            "Id": hex(),
            "Names": [format!("/bench-{service}-{n}")],
            "Image": image,
            "ImageID": format!("sha256:{}", hex()),
            "Command": command,
            "Created": 1_718_000_000 + i * 37,
            "Ports": [{"PrivatePort": port, "Type": "tcp"}],
            "Labels": {
                "com.docker.compose.config-hash": hex(),
                "com.docker.compose.container-number": n.to_string(),
                "com.docker.compose.oneoff": "False",
                "com.docker.compose.project": "bench",
                "com.docker.compose.project.working_dir": "/srv/bench",
                "com.docker.compose.service": service,
                "com.docker.compose.version": "2.29.1",
            },
            "State": "running",
            "Status": format!("Up {} hours", 1 + i % 23),
            "HostConfig": {"NetworkMode": "bench_default"},
            "NetworkSettings": {"Networks": {"bench_default": {
                "IPAMConfig": null, "Links": null, "Aliases": null,
                "MacAddress": format!("02:42:ac:12:00:{:02x}", i + 2),
                "NetworkID": hex(), "EndpointID": hex(),
                "Gateway": "172.18.0.1", "IPAddress": format!("172.18.0.{}", i + 2),
                "IPPrefixLen": 16, "IPv6Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "DriverOpts": null, "DNSNames": null,
            }}},
            "Mounts": [{
                "Type": "volume", "Name": format!("bench_{service}_{n}"),
                "Source": format!("/var/lib/docker/volumes/bench_{service}_{n}/_data"),
                "Destination": "/data", "Driver": "local", "Mode": "z", "RW": true,
                "Propagation": "",
            }],
        });
        size += entry.to_string().len() + 1;
        list.push(entry);
        i += 1;
    }
    Bytes::from(serde_json::Value::Array(list).to_string())
}

/// A `docker inspect` answer of a few KB for the container `id`: a compose service's container as
/// dockerd 27 describes it, owned by `OWNER` through sockgate's owner label.
pub fn container_inspect(id: &str) -> Vec<u8> {
    let layer = "3b9d6c1f0a7e5d4c2b8a9f6e1d0c7b5a4e3f2d1c0b9a8e7f6d5c4b3a2e1f0d9c";
    let network = "8e2f6a1c9d0b7e5f3a4c2d1b0e9f8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";
    let endpoint = "c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8";
    let image = "sha256:9c7a54a9a43cca047013b82af109fe963fde787f63f9e016fdc3384500c2823d";
    let host_config = serde_json::json!({
        "Binds": null, "ContainerIDFile": "",
        "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": "bench_default",
        "PortBindings": {"8080/tcp": [{"HostIp": "", "HostPort": "8080"}]},
        "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
        "AutoRemove": false, "VolumeDriver": "", "VolumesFrom": null,
        "ConsoleSize": [0, 0], "CapAdd": null, "CapDrop": null, "CgroupnsMode": "private",
        "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": [], "GroupAdd": null,
        "IpcMode": "private", "Cgroup": "", "Links": null, "OomScoreAdj": 0, "PidMode": "",
        "Privileged": false, "PublishAllPorts": false, "ReadonlyRootfs": false,
        "SecurityOpt": null, "UTSMode": "", "UsernsMode": "", "ShmSize": 67_108_864,
        "Runtime": "runc", "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0,
        "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": null,
        "BlkioDeviceReadBps": null, "BlkioDeviceWriteBps": null, "BlkioDeviceReadIOps": null,
        "BlkioDeviceWriteIOps": null, "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": null,
        "DeviceCgroupRules": null, "DeviceRequests": null, "MemoryReservation": 0,
        "MemorySwap": 0, "MemorySwappiness": null, "OomKillDisable": null, "PidsLimit": null,
        "Ulimits": null, "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "Mounts": [{"Type": "volume", "Source": "bench_api_1", "Target": "/data", "VolumeOptions": {}}],
        "MaskedPaths": [
            "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
            "/sys/firmware", "/sys/devices/virtual/powercap",
        ],
        "ReadonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    });
    let config = serde_json::json!({
        "Hostname": &id[..12], "Domainname": "", "User": "1000:1000",
        "AttachStdin": false, "AttachStdout": true, "AttachStderr": true,
        "ExposedPorts": {"8080/tcp": {}},
        "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": [
            "API_LISTEN=0.0.0.0:8080", "DATABASE_URL=postgres://api@db:5432/api",
            "REDIS_URL=redis://cache:6379/0",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ],
        "Cmd": ["--config", "/etc/api.toml"],
        "Image": "bench/api:2.4.1",
        "Volumes": {"/data": {}},
        "WorkingDir": "/srv/api",
        "Entrypoint": ["/usr/local/bin/api"],
        "OnBuild": null,
        "Labels": {
            "com.docker.compose.config-hash": layer,
            "com.docker.compose.container-number": "1",
            "com.docker.compose.depends_on": "db:service_started:false,cache:service_started:false",
            "com.docker.compose.image": image,
            "com.docker.compose.oneoff": "False",
            "com.docker.compose.project": "bench",
            "com.docker.compose.project.config_files": "/srv/bench/compose.yaml",
            "com.docker.compose.project.working_dir": "/srv/bench",
            "com.docker.compose.service": "api",
            "com.docker.compose.version": "2.29.1",
            "io.sockgate.owner": OWNER,
            "org.opencontainers.image.source": "https://example.com/bench/api",
            "org.opencontainers.image.version": "2.4.1",
        },
    });
    let network_settings = serde_json::json!({
        "Bridge": "", "SandboxID": endpoint, "SandboxKey": format!("/var/run/docker/netns/{}", &endpoint[..12]),
        "Ports": {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}]},
        "HairpinMode": false, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null, "EndpointID": "",
        "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "",
        "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
        "Networks": {"bench_default": {
            "IPAMConfig": null, "Links": null, "Aliases": ["bench-api-1", "api"],
            "MacAddress": "02:42:ac:12:00:03", "DriverOpts": null, "NetworkID": network,
            "EndpointID": endpoint, "Gateway": "172.18.0.1", "IPAddress": "172.18.0.3",
            "IPPrefixLen": 16, "IPv6Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "DNSNames": ["bench-api-1", "api", &id[..12]],
        }},
    });
    let answer = serde_json::json!({
        "Id": id,
        "Created": "2024-06-10T08:15:42.123456789Z",
        "Path": "/usr/local/bin/api",
        "Args": ["--config", "/etc/api.toml"],
        "State": {
            "Status": "running", "Running": true, "Paused": false, "Restarting": false,
            "OOMKilled": false, "Dead": false, "Pid": 41_235, "ExitCode": 0, "Error": "",
            "StartedAt": "2024-06-10T08:15:43.001234567Z", "FinishedAt": "0001-01-01T00:00:00Z",
        },
        "Image": image,
        "ResolvConfPath": format!("/var/lib/docker/containers/{id}/resolv.conf"),
        "HostnamePath": format!("/var/lib/docker/containers/{id}/hostname"),
        "HostsPath": format!("/var/lib/docker/containers/{id}/hosts"),
        "LogPath": format!("/var/lib/docker/containers/{id}/{id}-json.log"),
        "Name": "/bench-api-1",
        "RestartCount": 0,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "docker-default",
        "ExecIDs": null,
        "HostConfig": host_config,
        "GraphDriver": {
            "Data": {
                "LowerDir": format!("/var/lib/docker/overlay2/{layer}-init/diff:/var/lib/docker/overlay2/{network}/diff"),
                "MergedDir": format!("/var/lib/docker/overlay2/{layer}/merged"),
                "UpperDir": format!("/var/lib/docker/overlay2/{layer}/diff"),
                "WorkDir": format!("/var/lib/docker/overlay2/{layer}/work"),
            },
            "Name": "overlay2",
        },
        "Mounts": [{
            "Type": "volume", "Name": "bench_api_1",
            "Source": "/var/lib/docker/volumes/bench_api_1/_data",
            "Destination": "/data", "Driver": "local", "Mode": "z", "RW": true, "Propagation": "",
        }],
        "Config": config,
        "NetworkSettings": network_settings,
    });
    // dockerd indents nothing and ends its JSON answers with a newline.
    let mut bytes = answer.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}
