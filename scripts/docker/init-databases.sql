-- One database per gateway, as the native demo creates them.
CREATE DATABASE eco_kr;
CREATE DATABASE eco_vn;
