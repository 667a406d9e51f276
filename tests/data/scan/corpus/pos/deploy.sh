#!/bin/sh
export SECRET_KEY='#2F*48fGBntFCGSdttmSt%^_aP53x#liKv#PTVq_B6aFOq=kJS'
./manage.py migrate
