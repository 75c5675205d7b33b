module sockgate.test/jsonoracle

go 1.19
