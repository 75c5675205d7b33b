module sockgate.test/pathoracle

go 1.19
