const MAPS = 'AIzaijLYLsGhkcfSVOnh_LGu48qclNx-QTLH9c0';
loadMaps(MAPS);
